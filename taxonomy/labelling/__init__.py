"""Open coding of bug records: coders' answers, Cohen's kappa, arbitration, CSV round trip and
the interactive terminal labeller."""
from enginebugs.taxonomy.labelling.kappa import cohen_kappa, raw_agreement

__all__ = ["cohen_kappa", "raw_agreement"]
