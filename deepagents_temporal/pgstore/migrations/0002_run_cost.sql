-- What a run cost in USD, from the workers' DEEPAGENT_PRICES (per million
-- input and output tokens of the model that answered each call), sub-agents
-- included. NULL: unknown (no price table, or a model without a price).
ALTER TABLE runs ADD COLUMN cost_usd double precision CHECK (cost_usd >= 0);
