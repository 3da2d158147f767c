"""What users do with the numbers: per-document scores of runs and submissions, leaderboards,
paired comparisons and shortcut (off-target) reports."""
