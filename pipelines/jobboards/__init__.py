"""The hiring pipeline's steps: poll public job boards, track postings, score hiring velocity."""
