"""The domain core: members, tokens, keys, the ledger and what surrounds them.

Plain Python over SQLAlchemy sessions; no Flask. The doors (api, web, ops) call it."""
