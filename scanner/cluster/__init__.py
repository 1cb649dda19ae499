"""Live cluster stage: read objects from the Kubernetes API into `Resource` objects (`kguard audit`).

Only this package imports the `kubernetes` client, and only inside functions, so `kguard scan` never pays for it.
"""
