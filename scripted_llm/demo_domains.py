"""The demo's domain vocabulary: who uses the feature, what fails, what is stored.

A request mentioning checkout, sign-in, uploads, search, notifications or
an API gets scenarios worded for that domain (its actor, typical failure,
stored record, risky dependency, test data...); anything else gets neutral
wording. The keys of a domain are the placeholders the scenario and strategy
documents use (``scripted_llm.demo_documents``).
"""

from __future__ import annotations

import re

_DOMAINS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (
        ("checkout", "payment", "cart", "order", "billing", "invoice", "subscription", "stripe", "refund"),
        {
            "actor": "a signed-in customer with items in the cart",
            "failure": "the payment provider declines the card",
            "record": "order",
            "event": "OrderPlaced",
            "dependency": "the payment gateway",
            "fixtures": "a test customer, three in-stock products and sandbox cards (one valid, one declined)",
            "risk": "double charges or orders without payment when the payment provider is slow or retried",
            "journey": "add products to the cart, check out and pay",
            "outcome": "the order confirmation matches the persisted order and the payment is captured exactly once",
            "resume": "their cart is intact and paying again does not create a second order",
            "failure_then": "the user sees a clear error, no order is created without payment, and paying with another card completes the purchase exactly once",
            "valid_then": "the order total, taxes and line items are computed exactly and the order is stored",
            "boundaries": "quantities of zero, one and the maximum, a total of exactly 0.00, the largest allowed amount and a currency without minor units",
        },
    ),
    (
        (
            "login",
            "log in",
            "sign in",
            "sign-in",
            "signin",
            "auth",
            "password",
            "sso",
            "oauth",
            "registration",
            "register",
            "sign up",
            "signup",
            "account",
            "onboarding",
        ),
        {
            "actor": "a registered user",
            "failure": "the identity provider is unreachable",
            "record": "user account",
            "event": "UserSignedIn",
            "dependency": "the identity provider",
            "fixtures": "active, locked and unverified test accounts",
            "risk": "account takeover through weak lockout, session fixation or token leakage",
            "journey": "register, confirm their email address and sign in",
            "outcome": "they land on their account page with a valid session and the welcome email was sent once",
            "resume": "they are asked to sign in again and return to the page they were on",
            "failure_then": "the user sees a clear message, no half-created account remains, and a retry succeeds",
            "valid_then": "the account is created and the user can sign in with the new credentials",
            "boundaries": "passwords at the minimum and maximum length, email addresses with plus-addressing and Unicode display names",
        },
    ),
    (
        ("upload", "file", "image", "photo", "document", "attachment", "import", "export", "csv"),
        {
            "actor": "a signed-in user with a valid file",
            "failure": "the upload is interrupted halfway through",
            "record": "stored file",
            "event": "FileStored",
            "dependency": "object storage",
            "fixtures": "valid, oversized, empty and corrupt sample files",
            "risk": "corrupt or orphaned files after interrupted uploads",
            "journey": "upload a file, see it in their list and download it again",
            "outcome": "the downloaded file is byte-identical to the uploaded one",
            "resume": "the upload resumes or restarts cleanly without storing the file twice",
            "failure_then": "the user is told the upload failed, no partial file is stored, and retrying stores the file once",
            "valid_then": "the file is accepted and its name, size and type are stored correctly",
            "boundaries": "an empty file, a file exactly at the size limit, one byte over it and a file name with Unicode characters",
        },
    ),
    (
        ("search", "filter", "catalog", "catalogue", "product", "listing", "recommend"),
        {
            "actor": "a shopper browsing the catalogue",
            "failure": "the search index is unavailable",
            "record": "product",
            "event": "ProductIndexed",
            "dependency": "the search index",
            "fixtures": "a seeded catalogue of about 50 products with known titles, categories, prices and stock",
            "risk": "stale or missing results after catalogue updates, and relevance regressions nobody notices",
            "journey": "search by keyword, refine the results with filters and open a product",
            "outcome": "the results contain exactly the matching products in relevance order, the filter counts add up and the product page opens",
            "resume": "their query, filters and result page are restored from the URL",
            "failure_then": 'the user sees a friendly "search is temporarily unavailable" message with category browsing as a fallback, and search works again as soon as the index is back',
            "valid_then": "the results match the query and filters, and every result shows its title, price and stock",
            "boundaries": "an empty query, a one-character query, a 256-character query, special characters and non-Latin scripts",
        },
    ),
    (
        ("email", "notification", "sms", "push", "message", "chat", "webhook"),
        {
            "actor": "a user with notifications enabled",
            "failure": "the messaging provider times out",
            "record": "notification",
            "event": "NotificationSent",
            "dependency": "the messaging provider",
            "fixtures": "test recipients and a provider sandbox or local mail catcher",
            "risk": "lost or duplicated notifications when the provider is slow",
            "journey": "trigger the notification and open it",
            "outcome": "exactly one notification arrives, with the expected content and working links",
            "resume": "no notification is sent twice",
            "failure_then": "the notification is queued and delivered once the provider recovers, never twice",
            "valid_then": "the message is rendered with the recipient's data and sent to the right channel",
            "boundaries": "an empty optional template field, the maximum message length and non-Latin characters",
        },
    ),
    (
        ("api", "endpoint", "rest", "graphql", "service", "microservice", "backend"),
        {
            "actor": "an API client with a valid token",
            "failure": "a downstream service returns 503",
            "record": "resource",
            "event": "ResourceChanged",
            "dependency": "the downstream service",
            "fixtures": "API tokens with and without the required scopes, and seeded resources",
            "risk": "breaking contract changes reaching consumers",
            "journey": "create, read, update and delete a resource through the public API",
            "outcome": "every call returns the documented status and body and the resource ends up deleted",
            "resume": "the client refreshes its token and retries without creating the resource twice",
            "failure_then": "the API answers 503 with Retry-After, nothing is half-written, and a retry succeeds exactly once",
            "valid_then": "the documented status code and response body are returned",
            "boundaries": "page sizes 0, 1 and the maximum, the longest allowed identifiers and unknown query parameters",
        },
    ),
)

_DEFAULT_DOMAIN = {
    "actor": "a typical user",
    "failure": "a downstream dependency is unavailable",
    "record": "record",
    "event": "the domain event",
    "dependency": "the downstream dependency",
    "fixtures": "representative seeded test data",
    "risk": "regressions in the main flow going unnoticed until production",
    "journey": "complete {subject} from start to finish",
    "outcome": "every step succeeds and what the user is shown matches what is stored",
    "resume": "their progress is restored or safely restarted, with no duplicate data",
    "failure_then": "the user sees a clear, actionable error, nothing is half-written, and retrying succeeds exactly once",
    "valid_then": "the request succeeds and the stored data reflects exactly the submitted values",
    "boundaries": "empty and maximum-length text, zero and negative numbers, and unusual Unicode",
}


def domain_of(text: str) -> dict[str, str]:
    """The vocabulary of the first domain ``text`` mentions, else the neutral one."""
    lowered = text.lower()
    for words, domain in _DOMAINS:
        if any(re.search(r"(?<![a-z])" + re.escape(w), lowered) for w in words):
            return domain
    return _DEFAULT_DOMAIN
