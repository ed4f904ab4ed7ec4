"""`filings`: the command-line tool of every role (applicant, reviewers, operator); see docs/cli.md."""
