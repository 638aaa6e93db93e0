"""The institutional_13f pipeline's steps: discover 13F-HR filings, load them, diff quarters, score."""
