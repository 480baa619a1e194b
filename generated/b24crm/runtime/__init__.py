"""The hand-written runtime every generated b24crm module builds on (see docs/contract.md)."""
