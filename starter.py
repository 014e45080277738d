"""deepagents-temporal: start, follow and inspect durable deep-agent runs.

`python starter.py --help` lists the commands; they live in the `cli` package
(the same CLI is installed as `deepagents-temporal`).
"""

from cli.app import main

if __name__ == "__main__":
    main()
