"""Planted faults: wrapper engines that break one thing, the negative controls of the oracles.

Each wrapper delegates to an inner engine and corrupts one behaviour the way real engine bugs do:

==========================  ====================================================  =========================
plugin factory              what it breaks                                        oracle that must fire
==========================  ====================================================  =========================
``leading_space_dropper``   tokenize() drops one leading space                     tokenization.ids
``whole_word_span_eraser``  token_offsets() gives whole-word tokens an empty span  tokenization.offsets
``utf8_stream_splitter``    stream_detokenize() decodes token by token (splits     tokenization.streaming
                            multi-byte UTF-8 into U+FFFD)
``special_space_mangler``   decode/stream drop the space after a special token     tokenization.decode
``generated_text_mangler``  Generation.text loses the first token's leading space   tokenization.generated_text
``stale_prefix_cache``      a prefix-cache hit keeps stale KV entries past the     cache.prefix_reuse
                            shared prefix
``length_keyed_prefix_cache``  a prompt of a cached prompt's length gets its KV     cache.prefix_reuse (branch)
                            entries (the branch call; the hot call is right)
``batch_crosstalk``         a batch row sees the previous row's last token         batch.needle, batch.order
``row_permuter``            outputs come back longest prompt first, not in request   batch.needle, batch.order
                            order (Incorrect Job Context Management)
``early_stop``              one token short on prompts of even length              precision.tokens (length subtype)
``error_after_prefix_hit``  an internal error when a prompt reuses a cached prefix  engine.error (cache context)
``logit_noise``             small deterministic noise on every log-probability     precision.logprobs / kld
``path_noise``              top-1 log-probability lowered by ``delta`` on one       cache.kv_recompute (decode),
                            path (knob ``path``: decode, batch, hot)                batch.* (batch), prefix (hot)
``seed_drift``              every seeded request draws from the seed plus a         sampling.seeded
                            running count (the request's RNG stream is not its own)
``top_p_before_temperature`` top-p applied before the temperature (chain order)  sampling.distribution
``abort_on_generate``       the process aborts in generate()                       engine.crash
``hang_on_generate``        generate() never returns                               engine.hang
==========================  ====================================================  =========================

As plugins: ``--engine-plugin enginebugs.difftest.faults:leading_space_dropper`` registers an engine named
``leading_space_dropper``; its configurations name the engine they wrap with the ``wraps`` knob
(default ``transformers``), e.g. ``leading_space_dropper:f32:wraps=llamacpp``. In-process:
``LeadingSpaceDropper(inner=engine)``.
"""
from __future__ import annotations

from enginebugs.difftest.faults.base import DEFAULT_WRAPPED, FaultyEngine
from enginebugs.difftest.faults.batch import BatchCrosstalk, RowPermuter
from enginebugs.difftest.faults.cache import ErrorAfterPrefixHit, LengthKeyedPrefixCache, StalePrefixCache
from enginebugs.difftest.faults.generation import EarlyStop
from enginebugs.difftest.faults.precision import LogitNoise, PathNoise
from enginebugs.difftest.faults.process import AbortOnGenerate, HangOnGenerate
from enginebugs.difftest.faults.sampling import SeedDrift, TopPBeforeTemperature
from enginebugs.difftest.faults.tokenizer import (GeneratedTextMangler, LeadingSpaceDropper, SpecialSpaceMangler,
                                                  Utf8StreamSplitter, WholeWordSpanEraser)

#: Every planted fault by plugin name. ``--engine-plugin enginebugs.difftest.faults:NAME`` calls
#: ``NAME()``: each name below is its class (an unwrapped instance that creates its inner engine at load).
FAULTS = {cls.name: cls for cls in (LeadingSpaceDropper, WholeWordSpanEraser, Utf8StreamSplitter, SpecialSpaceMangler,
                                    GeneratedTextMangler,
                                    StalePrefixCache, LengthKeyedPrefixCache, ErrorAfterPrefixHit, BatchCrosstalk,
                                    RowPermuter, EarlyStop, LogitNoise, PathNoise, SeedDrift, TopPBeforeTemperature, AbortOnGenerate,
                                    HangOnGenerate)}

leading_space_dropper = LeadingSpaceDropper
whole_word_span_eraser = WholeWordSpanEraser
utf8_stream_splitter = Utf8StreamSplitter
special_space_mangler = SpecialSpaceMangler
generated_text_mangler = GeneratedTextMangler
stale_prefix_cache = StalePrefixCache
length_keyed_prefix_cache = LengthKeyedPrefixCache
batch_crosstalk = BatchCrosstalk
row_permuter = RowPermuter
early_stop = EarlyStop
error_after_prefix_hit = ErrorAfterPrefixHit
logit_noise = LogitNoise
path_noise = PathNoise
seed_drift = SeedDrift
top_p_before_temperature = TopPBeforeTemperature
abort_on_generate = AbortOnGenerate
hang_on_generate = HangOnGenerate
