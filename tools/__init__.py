"""The course's command-line tools (`make tutorial`, `make accuracy`, ...); run from the repository root."""
