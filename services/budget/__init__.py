"""The budget service: funding, ledger, commitments, reconciliation and alerts."""
