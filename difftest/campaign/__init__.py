"""The real-model campaign (``enginebugs difftest campaign``): a tokenizer part, a logit part and a
cache/batching part over one model, merged into one results file the ``report difftest`` command
renders. See :mod:`difftest.campaign.orchestrate`."""
from difftest.campaign.orchestrate import PARTS, Campaign, CampaignOptions

__all__ = ["PARTS", "Campaign", "CampaignOptions"]
