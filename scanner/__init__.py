"""kguard: policy-as-code compliance scanner for Kubernetes."""

__version__ = "0.1.0"
