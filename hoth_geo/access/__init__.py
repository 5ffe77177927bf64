"""Who may see and do what: accounts and sign-in (auth, passwords, sessions), the audit chain,
disclosure control for partners (privacy) and casework lists.

Layer 2 of the data flow: imports only the foundation (settings, errors, schema, hexes, validation,
selection) and the store.
"""
