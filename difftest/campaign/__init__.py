"""The real-model campaign (``enginebugs difftest campaign``): a tokenizer part, a logit part and a
cache/batching part over one model, merged into one results file the ``report difftest`` command
renders. See :mod:`enginebugs.difftest.campaign.orchestrate`."""
from enginebugs.difftest.campaign.orchestrate import PARTS, Campaign, CampaignOptions

__all__ = ["PARTS", "Campaign", "CampaignOptions"]
