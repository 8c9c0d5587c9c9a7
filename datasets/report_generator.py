"""Synthetic bug reports shaped like real engine issues, in the project's own words.

Real issues are mostly structure: an engine's issue form, an environment dump, a long log or a
traceback, a command or a script, sometimes a maintainer's reply, around a line or two of
description. :func:`generate` assembles reports of that shape from phrase pools written for this
project: a root cause is drawn, then a symptom that cause plausibly shows, then a title, a
description (careful or careless), the evidence of that symptom (traceback, log that stops,
throughput table, wrong output sample) and the engine's form and environment dump. No text comes
from an upstream issue; engines, versions and models are generic. Deterministic for a seed.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator

# -- root causes: what a reporter or a maintainer would say about them --------------------------
# Each entry: symptoms it shows (weights), things involved, hints in the reporter's words,
# errors (exception class, message), the innermost frame (module, function), a maintainer's reply.
CAUSES: dict[str, dict] = {
    "incorrect-algorithm-implementation": dict(
        sym={"unexpected-output": 5, "crash": 2, "abnormal-performance": 2, "silent-error": 1, "system-hang": 1},
        things=["the paged attention kernel", "rotary embeddings", "the MoE routing", "the fused sampler",
                "sliding window attention", "the dequantize kernel", "beam search", "the flash attention path",
                "speculative decoding", "the top-p filter", "the rms norm kernel", "the chunked prefill path"],
        hints=["I think the kernel reads the wrong offset for the second half of the block",
               "looks like the scaling factor is applied twice", "the softmax seems to run over the wrong axis",
               "the position ids look off by one after the first chunk", "the accepted draft tokens are wrong",
               "the math in the new kernel does not match the reference implementation"],
        errors=[("RuntimeError", "CUDA error: an illegal memory access was encountered"),
                ("IndexError", "index 4096 is out of bounds for dimension 0 with size 4096")],
        frames=[("attention", "forward"), ("fused_moe", "invoke_fused_moe_kernel"), ("sampler", "_apply_top_k_top_p"),
                ("rotary_embedding", "forward_cuda"), ("ggml-cuda", "mul_mat_q")],
        fix=["The kernel used the wrong stride for the upper half; fixed in the linked PR.",
             "Confirmed, the new implementation drops the scale. Reverting that change fixes it."]),
    "misused-api": dict(
        sym={"crash": 5, "unexpected-output": 2, "feature-failure": 2, "silent-error": 1},
        things=["torch.compile", "the tokenizer API", "cudaMemcpyAsync", "the generate() call", "the LLM class",
                "the OpenAI client", "the Python bindings", "the C API", "the streaming iterator"],
        hints=["the call passes the arguments in the wrong order", "it calls a deprecated function",
               "the stream argument is passed where the device is expected", "the wrong overload is called",
               "the API is called before the engine is initialized"],
        errors=[("TypeError", "generate() got an unexpected keyword argument 'sampling_params'"),
                ("AttributeError", "'NoneType' object has no attribute 'encode'"),
                ("RuntimeError", "Expected a 'cuda' device type for generator but found 'cpu'")],
        frames=[("llm", "generate"), ("llama", "__call__"), ("utils", "wrapper"), ("model_runner", "execute_model")],
        fix=["The wrapper called the low-level API with arguments swapped.",
             "You need to pass the sampling params as a keyword, the positional form was removed."]),
    "mismatched-shape": dict(
        sym={"crash": 8, "unexpected-output": 2},
        things=["tensor parallel sharding", "the lm_head", "the vision projector", "the LoRA weights", "the KV cache view",
                "batched prefill", "the embedding layer", "GQA heads"],
        hints=["the shapes do not line up when the hidden size is not a multiple of 128",
               "the number of kv heads is smaller than the tensor parallel size",
               "the padded vocab size differs from the checkpoint"],
        errors=[("RuntimeError", "The size of tensor a (4096) must match the size of tensor b (5120) at non-singleton "
                                 "dimension 1"),
                ("RuntimeError", "shape '[2, 32, -1, 128]' is invalid for input of size 786432"),
                ("RuntimeError", "mat1 and mat2 shapes cannot be multiplied (16x3584 and 4096x4096)"),
                ("ValueError", "could not broadcast input array from shape (8,128) into shape (8,64)")],
        frames=[("linear", "weight_loader"), ("layers", "forward"), ("lora", "apply"), ("cache_engine", "swap_in")],
        fix=["The loader assumes the head dim divides the shard; the new model breaks that assumption."]),
    "incorrect-exception-handling": dict(
        sym={"crash": 5, "system-hang": 2, "silent-error": 2, "feature-failure": 1},
        things=["the API server", "the request handler", "the engine loop", "the worker process", "the health endpoint"],
        hints=["one bad request takes down the whole server", "the real error is swallowed and a generic one is shown",
               "the server returns 500 instead of 400 for an invalid request",
               "the error message points to the wrong cause", "the exception in the worker is never reported"],
        errors=[("RuntimeError", "Engine loop has died"), ("AsyncEngineDeadError", "Background loop has errored already"),
                ("Exception", "Internal server error")],
        frames=[("api_server", "create_completion"), ("async_llm_engine", "run_engine_loop"), ("server", "handle_request")],
        fix=["The validation error should become a 400 response; right now it escapes and kills the loop."]),
    "incorrect-conditional-logic": dict(
        sym={"crash": 4, "feature-failure": 3, "unexpected-output": 2, "silent-error": 1},
        things=["the stop condition", "the prefix cache check", "the quantization dispatch", "the fallback path",
                "the length check", "the guard for empty prompts", "the scheduler"],
        hints=["the check is inverted", "the branch for this case is never taken",
               "the condition uses > where it should be >=", "an empty list is treated like None",
               "the fallback is only taken when the flag is unset"],
        errors=[("AssertionError", ""), ("AssertionError", "num_tokens > 0"), ("ValueError", "prompt must not be empty")],
        frames=[("scheduler", "_schedule_prefills"), ("block_manager", "can_allocate"), ("config", "verify")],
        fix=["The guard was written the wrong way round; flipped it in the fix."]),
    "incorrect-type": dict(
        sym={"crash": 8, "unexpected-output": 1, "feature-failure": 1},
        things=["the token ids", "the logits processor", "the attention mask", "the temperature value",
                "the sampling params", "the position tensor"],
        hints=["an int64 tensor reaches a kernel that expects int32", "None is passed where a string is expected",
               "a float sneaks in where an int is required"],
        errors=[("TypeError", "expected str, bytes or os.PathLike object, not NoneType"),
                ("RuntimeError", "expected scalar type Half but found Float"),
                ("TypeError", "'float' object cannot be interpreted as an integer"),
                ("RuntimeError", "Index put requires the source and destination dtypes match")],
        frames=[("sampling_params", "__init__"), ("input_metadata", "prepare"), ("logits_processor", "__call__")],
        fix=["The ids are int64 here; casting to int32 before the kernel call fixes it."]),
    "numerical-issue": dict(
        sym={"unexpected-output": 5, "crash": 3, "silent-error": 1},
        things=["fp16 inference", "the softmax", "layer norm", "the logits", "long contexts", "the attention scores"],
        hints=["values overflow in fp16", "NaN appears after a few layers", "precision is lost in the accumulation",
               "the output turns into the same token once the logits contain inf"],
        errors=[("RuntimeError", "probability tensor contains either `inf`, `nan` or element < 0"),
                ("ValueError", "Out of range float values are not JSON compliant")],
        frames=[("sampler", "_multinomial"), ("layernorm", "forward"), ("softmax", "forward")],
        fix=["The accumulation overflows in half precision; we now accumulate in fp32."]),
    "incorrect-assignment": dict(
        sym={"unexpected-output": 4, "crash": 2, "feature-failure": 2, "silent-error": 2},
        things=["the default stop token", "the rope theta", "max_tokens", "the eos token id", "the default dtype",
                "the config value"],
        hints=["the default is set to the wrong value", "the field is overwritten after it is read",
               "a copy-paste error assigns the value to the wrong variable"],
        errors=[("KeyError", "'rope_theta'"), ("ValueError", "eos_token_id must be set")],
        frames=[("config", "__post_init__"), ("model_config", "get_hf_config")],
        fix=["The default was copied from another model and never updated."]),
    "incorrect-synchronization": dict(
        sym={"system-hang": 5, "unexpected-output": 2, "crash": 2},
        things=["the scheduler thread", "the detokenizer process", "the NCCL all-reduce", "the CUDA stream",
                "the async output processor", "the worker queue", "the lock around the cache"],
        hints=["it looks like a race between two threads", "it happens only under concurrent requests",
               "a missing stream synchronize lets the next step read stale data", "two workers wait on each other",
               "it happens randomly, maybe 1 out of 20 runs"],
        errors=[("RuntimeError", "NCCL communicator was aborted"), ("TimeoutError", "timed out waiting for the worker")],
        frames=[("threading", "wait"), ("multiproc_worker_utils", "_enqueue_task"), ("custom_all_reduce", "all_reduce")],
        fix=["There is a race between the output thread and the scheduler; added the missing lock."]),
    "incompatible-backend": dict(
        sym={"crash": 6, "unexpected-output": 2, "feature-failure": 2, "abnormal-performance": 1, "system-hang": 1},
        things=["ROCm on MI250", "an RX 7900 XTX", "Apple Metal", "the Vulkan backend", "a Tesla V100", "a T4",
                "an RTX 5090", "Blackwell GPUs", "Intel Arc", "a Jetson Orin", "a CPU without AVX512", "SYCL",
                "an older Pascal card", "Windows with CUDA"],
        hints=["the same model works on my other machine with an A100", "my GPU is compute capability 7.0",
               "it only happens on AMD", "on CUDA it works fine", "the card is not in the supported list"],
        errors=[("RuntimeError", "CUDA error: no kernel image is available for execution on the device"),
                ("RuntimeError", "FlashAttention only supports Ampere GPUs or newer."),
                ("RuntimeError", "HIP error: hipErrorNoBinaryForGpu"),
                ("ValueError", "Bfloat16 is only supported on GPUs with compute capability of at least 8.0"),
                ("RuntimeError", "ggml_metal_init: error: failed to compile pipeline")],
        frames=[("flash_attn_interface", "_flash_attn_forward"), ("rocm", "get_device"), ("platforms", "check"),
                ("ggml-metal", "ggml_metal_init")],
        fix=["This kernel is not built for your architecture; use the fallback backend.",
             "ROCm support for this path is not there yet."]),
    "incompatible-version": dict(
        sym={"crash": 7, "feature-failure": 1, "abnormal-performance": 1, "unexpected-output": 1},
        things=["transformers", "torch", "the CUDA toolkit", "the NVIDIA driver", "Python 3.12", "numpy 2",
                "pydantic", "the GGUF format", "cmake", "the pip wheel"],
        hints=["it started after I upgraded", "pip pulled a newer version", "it worked with the previous release",
               "my driver is older than the toolkit", "the wheel was built against another torch"],
        errors=[("ImportError", "cannot import name 'is_flash_attn_available' from 'transformers.utils'"),
                ("ModuleNotFoundError", "No module named 'vllm._C'"),
                ("OSError", "undefined symbol: _ZN3c104cuda9SetDeviceEi"),
                ("AttributeError", "module 'numpy' has no attribute 'float'"),
                ("RuntimeError", "The NVIDIA driver on your system is too old (found version 11040)"),
                ("CalledProcessError", "Command '['cmake', '--build', '.']' returned non-zero exit status 1.")],
        frames=[("__init__", "<module>"), ("import_utils", "_get_module"), ("setup", "build_extension")],
        fix=["Pin transformers to the version in requirements; the newer one renamed this helper.",
             "Your driver is too old for this CUDA build."]),
    "dependent-module-issue": dict(
        sym={"crash": 5, "unexpected-output": 2, "system-hang": 1, "abnormal-performance": 1},
        things=["flashinfer", "xformers", "triton", "NCCL", "ray", "outlines", "xgrammar", "the HF tokenizer",
                "bitsandbytes", "safetensors", "cuBLAS"],
        hints=["the traceback ends inside the dependency, not in the engine", "upstream already has an issue for this",
               "downgrading the dependency makes it go away"],
        errors=[("RuntimeError", "triton compilation failed"), ("RuntimeError", "NCCL error: unhandled system error"),
                ("ValueError", "xgrammar failed to compile the grammar"), ("RuntimeError", "CUBLAS_STATUS_EXECUTION_FAILED")],
        frames=[("flashinfer/decode", "run"), ("triton/compiler", "compile"), ("ray/worker", "get"),
                ("outlines/fsm", "compile")],
        fix=["This is a bug in the dependency, fixed in its next release."]),
    "misconfiguration": dict(
        sym={"crash": 5, "feature-failure": 2, "abnormal-performance": 2, "silent-error": 1, "unexpected-output": 1},
        things=["--max-model-len", "--gpu-memory-utilization", "the build flags", "an environment variable",
                "the engine config", "--max-num-seqs", "the docker run command", "the Modelfile", "the yaml config"],
        hints=["the flag I set does not seem to be the right one", "the default value is too small",
               "I built without the CUDA flag", "the setting in the config file is ignored",
               "the value must be changed together with another one"],
        errors=[("ValueError", "The model's max seq len (32768) is larger than the maximum number of tokens that can "
                               "be stored in KV cache (16384)"),
                ("ValueError", "max_num_batched_tokens (2048) is smaller than max_model_len (8192)"),
                ("error", "invalid value for '--dtype'")],
        frames=[("config", "_verify_args"), ("arg_utils", "create_engine_config"), ("launcher", "main")],
        fix=["Set the flag lower or raise gpu memory utilization; this is a configuration problem."]),
    "incompatible-model": dict(
        sym={"crash": 6, "unexpected-output": 2, "feature-failure": 2},
        things=["a new model architecture", "a fine-tuned checkpoint", "a merged LoRA model", "a GGUF conversion",
                "the vision variant", "an MoE model", "a custom model with trust_remote_code", "an embedding model"],
        hints=["the architecture is new", "the checkpoint layout differs from the original",
               "the model was converted with a newer script", "weights have different names in this release"],
        errors=[("ValueError", "Model architectures ['NewForCausalLM'] are not supported for now."),
                ("KeyError", "'model.layers.0.mlp.experts.0.w1.weight'"),
                ("RuntimeError", "error loading model: unknown model architecture: 'newarch'")],
        frames=[("registry", "resolve_model_cls"), ("weight_utils", "load_weights"), ("llama-model-loader", "load")],
        fix=["This architecture is not supported yet; a PR adding it is open."]),
    "concurrency-issue": dict(
        sym={"crash": 4, "system-hang": 3, "abnormal-performance": 2, "unexpected-output": 1},
        things=["tensor parallel size 4", "pipeline parallelism", "multi-node serving", "data parallel replicas",
                "expert parallelism", "--tp 8", "two nodes with ray"],
        hints=["with tp=1 everything works", "it breaks only when the tensor parallel size is changed",
               "the number of heads is not divisible by the parallel size", "the ranks disagree on the world size"],
        errors=[("ValueError", "Total number of attention heads (40) must be divisible by tensor parallel size (3)."),
                ("RuntimeError", "NCCL error in: ProcessGroupNCCL.cpp, unhandled cuda error"),
                ("DistNetworkError", "The server socket has failed to listen on any local network address")],
        frames=[("parallel_state", "initialize_model_parallel"), ("distributed_c10d", "all_reduce"),
                ("ray_gpu_executor", "_init_workers_ray")],
        fix=["Your world size does not match the number of visible GPUs on the second node."]),
    "mismatched-precision": dict(
        sym={"crash": 4, "unexpected-output": 4, "abnormal-performance": 1, "feature-failure": 1},
        things=["the fp8 kv cache", "AWQ", "GPTQ", "bf16 weights", "int4 quantization", "Q4_K_M", "fp16 on CPU",
                "the fp8 checkpoint", "W8A8"],
        hints=["the weights are bf16 but the path runs them in fp16", "the quantized model behaves differently",
               "with --dtype float32 it works", "the kv cache dtype does not match the attention kernel"],
        errors=[("ValueError", "The quantization method awq is not supported for the current GPU."),
                ("RuntimeError", "expected mat1 and mat2 to have the same dtype, but got: c10::BFloat16 != c10::Half"),
                ("NotImplementedError", "fp8 kv cache is not supported with this attention backend")],
        frames=[("quantization/awq", "apply"), ("fp8", "create_weights"), ("kv_cache", "quantize")],
        fix=["The scales are in bf16 while the activations are fp16; casting fixes the garbage output."]),
    "document-issue": dict(
        sym={"feature-failure": 5, "crash": 4, "unexpected-output": 1},
        things=["the quickstart", "the README example", "the docs for the server", "the docker instructions",
                "the install guide", "the API reference"],
        hints=["I followed the documentation exactly", "the flag in the docs does not exist",
               "the example in the README fails", "the docs describe an older version"],
        errors=[("error", "unrecognized arguments: --enable-foo"), ("TypeError", "__init__() got an unexpected keyword "
                                                                            "argument 'model_name'")],
        frames=[("argparse", "error"), ("examples", "main")],
        fix=["The docs are out of date; we updated the example."]),
    "incorrect-job-context-management": dict(
        sym={"unexpected-output": 3, "crash": 3, "silent-error": 2, "feature-failure": 2},
        things=["the seed", "per-request state", "environment variables in workers", "the working directory",
                "CUDA_VISIBLE_DEVICES", "the logits processors between requests", "the session state"],
        hints=["the second request gets the settings of the first", "the worker does not inherit the variable",
               "the seed is not reset between runs", "state from a previous job leaks into the next one"],
        errors=[("RuntimeError", "CUDA error: invalid device ordinal"), ("KeyError", "'request_id'")],
        frames=[("worker", "init_device"), ("engine", "add_request")],
        fix=["The per-request state was kept on the engine instead of the request."]),
    "incorrect-tokenization": dict(
        sym={"unexpected-output": 6, "crash": 2, "silent-error": 1},
        things=["the tokenizer", "special tokens", "the BOS token", "the pre-tokenizer", "Chinese text",
                "the chat prompt tokens"],
        hints=["the token ids differ from the HF tokenizer", "the BOS token is added twice",
               "special tokens are split into pieces", "the pre-tokenizer regex differs"],
        errors=[("ValueError", "token id 151643 is out of vocabulary"), ("RuntimeError", "tokenizer failed to encode")],
        frames=[("tokenizer", "encode"), ("llama-vocab", "tokenize")],
        fix=["The BOS token is added by both the template and the tokenizer."]),
    "incorrect-request-parsing": dict(
        sym={"feature-failure": 5, "crash": 2, "silent-error": 2, "unexpected-output": 1},
        things=["the OpenAI compatible endpoint", "tool calling", "response_format", "the stop parameter",
                "logprobs", "the /v1/chat/completions request", "function calling", "guided json"],
        hints=["the field is accepted but ignored", "a valid request is rejected with 400",
               "the tool_calls come back empty", "the parameter name differs from the OpenAI spec"],
        errors=[("ValidationError", "1 validation error for ChatCompletionRequest"),
                ("HTTPError", "400 Bad Request"), ("JSONDecodeError", "Expecting value: line 1 column 1 (char 0)")],
        frames=[("serving_chat", "create_chat_completion"), ("protocol", "validate"), ("openai", "parse_request")],
        fix=["The request parser drops this field before it reaches the sampler."]),
    "insufficient-multimodal-support": dict(
        sym={"crash": 4, "feature-failure": 4, "unexpected-output": 2},
        things=["image inputs", "multiple images", "audio input", "video frames", "the vision encoder",
                "base64 images", "the image processor"],
        hints=["text-only requests work", "it fails once an image is attached", "more than one image is not handled",
               "the image tokens are not inserted"],
        errors=[("ValueError", "Attempted to assign 1 image tokens to 576 placeholders"),
                ("NotImplementedError", "multi-image input is not supported for this model")],
        frames=[("multimodal/processing", "apply"), ("image_processor", "preprocess")],
        fix=["Multi-image input needs the new processor; not supported yet for this model."]),
    "incorrect-formatting": dict(
        sym={"unexpected-output": 5, "feature-failure": 3, "crash": 2},
        things=["the chat template", "the system prompt", "the streamed chunks", "the JSON response",
                "the jinja template", "the reasoning content"],
        hints=["the system prompt is dropped from the prompt", "the template renders the roles wrongly",
               "the response JSON has the wrong structure", "the final chunk has the wrong format"],
        errors=[("TemplateError", "Conversation roles must alternate user/assistant/user/assistant"),
                ("ValueError", "Cannot use chat template functions because tokenizer.chat_template is not set")],
        frames=[("chat_utils", "apply_hf_chat_template"), ("jinja2/environment", "render")],
        fix=["The template drops the system message; fixed the template handling."]),
    "incorrect-detokenization": dict(
        sym={"unexpected-output": 8, "silent-error": 1},
        things=["streaming output", "the incremental detokenizer", "emoji", "spaces between words",
                "skip_special_tokens", "byte fallback tokens"],
        hints=["spaces go missing between streamed words", "multi-byte characters are cut in the middle",
               "the streamed text differs from the non-streamed text", "special tokens leak into the output"],
        errors=[("UnicodeDecodeError", "'utf-8' codec can't decode byte 0xe4 in position 0: unexpected end of data")],
        frames=[("detokenizer", "decode_sequence_inplace"), ("tokenizer", "convert_ids_to_tokens")],
        fix=["The incremental detokenizer emits partial UTF-8 sequences; we now buffer them."]),
    "incorrect-character-encoding": dict(
        sym={"unexpected-output": 5, "crash": 4},
        things=["non-ASCII prompts", "Chinese characters", "Windows paths", "the model file name", "UTF-8 output",
                "the console output"],
        hints=["it works with English only", "on Windows the default code page is not UTF-8",
               "the characters come out as question marks"],
        errors=[("UnicodeEncodeError", "'charmap' codec can't encode character '\\u4f60'"),
                ("UnicodeDecodeError", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte")],
        frames=[("io", "write"), ("server", "write_response")],
        fix=["Open the file with an explicit utf-8 encoding."]),
    "incorrect-resource-allocation": dict(
        sym={"crash": 7, "abnormal-performance": 2, "system-hang": 1},
        things=["the KV cache", "CUDA graphs capture", "the memory profiler", "the workspace buffer",
                "the prefill batch", "GPU memory", "pinned host memory", "the draft model"],
        hints=["it runs out of memory although the model fits easily", "the memory profiling underestimates the peak",
               "it reserves far more memory than needed", "the same model fits with the other engine"],
        errors=[("torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity "
                                           "of 79.15 GiB of which 1.02 GiB is free."),
                ("RuntimeError", "No available memory for the cache blocks. Try increasing `gpu_memory_utilization`"),
                ("error", "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 8192.00 MiB on device 0: "
                          "cudaMalloc failed: out of memory")],
        frames=[("gpu_model_runner", "profile_run"), ("cache_engine", "_allocate_kv_cache"), ("cuda_graph", "capture")],
        fix=["Profiling misses the sampler's peak; we reserve more headroom now."]),
    "incorrect-cache-management": dict(
        sym={"unexpected-output": 5, "crash": 2, "abnormal-performance": 1, "silent-error": 1},
        things=["prefix caching", "the prompt cache", "the KV cache reuse", "cache eviction", "the radix cache",
                "the slot cache", "context shifting"],
        hints=["the first request is right, the repeated one is wrong", "turning off prefix caching fixes it",
               "stale entries are reused after the cache is full", "it only breaks after the cache wraps around"],
        errors=[("AssertionError", "block table out of sync"), ("KeyError", "block hash not found")],
        frames=[("prefix_caching_block", "allocate"), ("radix_cache", "evict"), ("kv_cache_manager", "get_computed_blocks")],
        fix=["Evicted blocks were still referenced by the running sequence."]),
    "incorrect-multi-device-management": dict(
        sym={"crash": 6, "abnormal-performance": 2, "unexpected-output": 2},
        things=["two GPUs", "the second GPU", "CUDA_VISIBLE_DEVICES", "device placement", "multi-GPU offload",
                "tensor split", "the device map"],
        hints=["everything lands on GPU 0", "it ignores the device I pick", "with one GPU it works",
               "the layers are split unevenly across the cards"],
        errors=[("RuntimeError", "Expected all tensors to be on the same device, but found at least two devices, "
                                 "cuda:0 and cuda:1!"),
                ("RuntimeError", "CUDA error: peer access is not supported between these two devices")],
        frames=[("model_runner", "load_model"), ("device_map", "dispatch")],
        fix=["The buffer is created on the default device instead of the layer's device."]),
    "incorrect-resource-deallocation": dict(
        sym={"abnormal-performance": 4, "crash": 4, "system-hang": 1},
        things=["GPU memory", "host memory", "the scheduler process", "finished requests", "aborted requests",
                "the model after unloading", "file descriptors", "zombie worker processes"],
        hints=["memory grows with every request", "the memory is never released after the request ends",
               "after deleting the engine the GPU memory stays used", "the process keeps growing until it is killed"],
        errors=[("torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 512.00 MiB"),
                ("OSError", "[Errno 24] Too many open files")],
        frames=[("scheduler", "free_finished"), ("engine", "abort_request"), ("memory", "release")],
        fix=["Aborted requests kept their blocks; freeing them on abort fixes the leak."]),
}

# -- symptoms: titles, sentences and evidence ----------------------------------------------------
TITLES = {
    "crash": ["{Exc}: {msg_short}", "[Bug]: {exc} when using {thing}", "Crash with {thing}", "{thing}: {exc} on startup",
              "server dies with {exc}", "Segmentation fault with {thing}", "Error when loading model with {thing}",
              "cannot start the server ({thing})", "{exc} after update", "build fails with {thing}",
              "[Bug]: {model} fails on {gpu}", "Not able to deploy {model} with {thing}", "[Bug]: can't make {model} work",
              "Unable to run {model} ({thing})", "error when running {model} with {thing}", "{model} fails to load",
              "[Bug]: Engine initialization failed with {thing}", "install fails"],
    "unexpected-output": ["Garbage output with {thing}", "[Bug]: wrong answers when using {thing}",
                          "Output differs from transformers with {thing}", "Model repeats the same token with {thing}",
                          "gibberish output", "Incorrect results with {thing}", "output is empty with {thing}",
                          "responses are nonsense after a few turns"],
    "feature-failure": ["{thing} not working", "[Bug]: {thing} has no effect", "Cannot use {thing}",
                        "{thing} is ignored", "[Bug]: {thing} does not work with {thing2}", "{thing} not supported?",
                        "unable to enable {thing}"],
    "abnormal-performance": ["[Performance]: {thing} is much slower than expected", "throughput regression with {thing}",
                             "high latency with {thing}", "very slow generation with {thing}",
                             "Memory usage keeps growing with {thing}", "TTFT doubled after upgrade",
                             "low GPU utilization with {thing}"],
    "system-hang": ["Server hangs with {thing}", "[Bug]: stuck at startup with {thing}", "requests never return",
                    "deadlock with {thing}", "process freezes after a while", "hang during {thing}",
                    "no response from the server after some requests"],
    "silent-error": ["{thing} silently ignored", "[Bug]: wrong result without any error with {thing}",
                     "{thing} quietly produces wrong values", "no warning when {thing} is dropped",
                     "{thing} silently falls back"],
}
SENTENCES = {
    "crash": ["It crashes right after loading the model.", "The server dies with the error below.",
              "The process exits with an error as soon as the first request arrives.", "it crashes every time",
              "Launching fails with the traceback below.", "crash on startup, full log below"],
    "unexpected-output": ["The output is complete nonsense.", "It keeps repeating the same phrase until max tokens.",
                          "The answers are different from what transformers produces with the same prompt.",
                          "output looks like random tokens", "The text is fluent but wrong.",
                          "Sometimes the response is just empty."],
    "feature-failure": ["The option is accepted but nothing changes.", "The feature simply does not work for me.",
                        "It returns the normal response as if the option was never set.", "doesn't work",
                        "The documented option has no effect at all.", "It says the feature is not supported."],
    "abnormal-performance": ["Throughput dropped a lot compared to the previous version.",
                             "Generation is several times slower than expected.", "Latency is much higher than on the "
                             "other engine with the same model.", "it's super slow",
                             "GPU utilization stays low while the requests queue up."],
    "system-hang": ["The server stops responding and the log shows nothing more.", "It just hangs forever.",
                    "After some requests nothing comes back and I have to kill the process.", "stuck, no output",
                    "GPU utilization sits at 100% but no tokens are produced.", "The requests stay pending forever."],
    "silent-error": ["There is no error and no warning, the result is just wrong.",
                     "I only noticed much later that the setting was never applied.",
                     "Nothing in the logs says anything went wrong.", "silently does the wrong thing",
                     "The request succeeds with status 200 but part of the input was dropped."],
}
ENGINES = {
    "vLLM": ("vllm-project/vllm", "vllm"), "SGLang": ("sgl-project/sglang", "sglang"),
    "llama.cpp": ("ggml-org/llama.cpp", "llama"), "Ollama": ("ollama/ollama", "ollama"),
    "TGI": ("huggingface/text-generation-inference", "text_generation_server"),
    "TensorRT-LLM": ("NVIDIA/TensorRT-LLM", "tensorrt_llm"), "DeepSpeed": ("deepspeedai/DeepSpeed", "deepspeed"),
    "MLC-LLM": ("mlc-ai/mlc-llm", "mlc_llm"), "llama-cpp-python": ("abetlen/llama-cpp-python", "llama_cpp"),
}
MODELS = ["Llama-3.1-8B-Instruct", "Qwen2.5-7B-Instruct", "Mistral-7B-Instruct-v0.3", "gemma-2-9b-it", "Phi-3-mini",
          "DeepSeek-V2-Lite", "Qwen3-30B-A3B", "Mixtral-8x7B", "Llama-2-13b-chat", "Yi-34B", "falcon-7b"]
GPUS = ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090", "NVIDIA L40S", "Tesla T4",
        "NVIDIA A10G", "NVIDIA GeForce RTX 3090", "AMD Instinct MI250X"]
PY_PACKAGES = ["numpy", "torch", "transformers", "tokenizers", "triton", "xformers", "flashinfer", "ray", "pydantic",
               "fastapi", "uvicorn", "sentencepiece", "safetensors", "accelerate", "nvidia-nccl-cu12", "aiohttp"]


def _version(rng: random.Random) -> str:
    return f"{rng.randint(0, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"


# -- pieces of structure ---------------------------------------------------------------------------
def env_dump(rng: random.Random, engine: str) -> str:
    """An environment report the way each engine's tooling prints it."""
    gpu = rng.choice(GPUS)
    n = rng.choice((1, 2, 4, 8))
    if engine in ("vLLM", "DeepSpeed", "TensorRT-LLM") and rng.random() < 0.7:
        lines = ["Collecting environment information...", "=" * 30, "        System Info", "=" * 30,
                 f"OS                           : Ubuntu {rng.choice(('20.04', '22.04', '24.04'))} LTS (x86_64)",
                 f"GCC version                  : (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0",
                 "Clang version                : Could not collect", "=" * 30, "       PyTorch Info", "=" * 30,
                 f"PyTorch version              : 2.{rng.randint(1, 9)}.{rng.randint(0, 1)}+cu12{rng.randint(1, 8)}",
                 "Is debug build               : False",
                 f"CUDA used to build PyTorch   : 12.{rng.randint(1, 8)}", "=" * 30, "       CUDA / GPU Info", "=" * 30,
                 "Is CUDA available            : True", "GPU models and configuration :"]
        lines += [f"GPU {k}: {gpu}" for k in range(n)]
        lines += [f"Nvidia driver version        : {rng.randint(470, 575)}.{rng.randint(10, 99)}.{rng.randint(1, 20)}",
                  f"{engine} Version                 : {_version(rng)}"]
    elif engine == "SGLang" or rng.random() < 0.3:
        lines = [f"Python: 3.{rng.randint(9, 12)}.{rng.randint(0, 15)}", "CUDA available: True",
                 f"GPU 0,1: {gpu}", "GPU 0,1 Compute Capability: 8.0", "CUDA_HOME: /usr/local/cuda",
                 f"NVCC: Cuda compilation tools, release 12.{rng.randint(1, 8)}",
                 f"CUDA Driver Version: {rng.randint(470, 575)}.{rng.randint(10, 99)}"]
        lines += [f"{p}: {_version(rng)}" for p in rng.sample(PY_PACKAGES, rng.randint(5, 12))]
    elif engine in ("llama.cpp", "llama-cpp-python") and rng.random() < 0.6:
        lines = [f"version: {rng.randint(1000, 6000)} ({rng.getrandbits(28):07x})",
                 "built with cc (GCC) 13.2.1 for x86_64-pc-linux-gnu", "", "### Operating systems", "",
                 rng.choice(("Linux", "Windows", "Mac")), "", "### GGML backends", "",
                 rng.choice(("CUDA", "Metal", "Vulkan", "CPU", "HIP", "SYCL"))]
    elif rng.random() < 0.5:
        lines = [f"{p}=={_version(rng)}" for p in rng.sample(PY_PACKAGES, rng.randint(6, 14))]
    else:
        lines = ["+-----------------------------------------------------------------------------------------+",
                 f"| NVIDIA-SMI {rng.randint(470, 575)}.{rng.randint(10, 99)}   Driver Version: "
                 f"{rng.randint(470, 575)}.{rng.randint(10, 99)}   CUDA Version: 12.{rng.randint(1, 8)}     |",
                 "|-----------------------------------------+------------------------+----------------------+",
                 f"|   0  {gpu[:28]:<28}   On  |   00000000:17:00.0 Off |                    0 |",
                 f"| N/A   {rng.randint(30, 80)}C    P0   {rng.randint(60, 400)}W / 400W | "
                 f"{rng.randint(1, 80000)}MiB / 81920MiB |     {rng.randint(0, 100)}%      Default |",
                 "+-----------------------------------------------------------------------------------------+"]
    return "\n".join(lines)


def info_log(rng: random.Random, engine: str, n: int) -> list[str]:
    """Ordinary start-up log lines that say nothing about the bug."""
    model = rng.choice(MODELS)
    pool = [f"INFO {rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
            f":{rng.randint(0, 59):02d} [{f}] {m}" for f, m in (
                ("config.py:1300", f"Using max model len {rng.choice((4096, 8192, 32768))}"),
                ("model_runner.py:1072", f"Loading model weights took {rng.uniform(2, 40):.4f} GB"),
                ("gpu_executor.py:122", f"# GPU blocks: {rng.randint(1000, 30000)}, # CPU blocks: 2048"),
                ("api_server.py:212", f"Started server process [{rng.randint(100, 99999)}]"),
                ("llm_engine.py:237", f"Initializing an LLM engine with config: model='{model}', dtype=auto"),
                ("weight_utils.py:243", "Using model weights format ['*.safetensors']"))]
    pool += [f"llm_load_print_meta: {k} = {v}" for k, v in (("n_ctx_train", rng.choice((4096, 8192, 131072))),
                                                            ("n_embd", rng.choice((2048, 4096))), ("n_layer", 32),
                                                            ("model type", "8B"), ("general.name", model))]
    pool += [f"time=2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:{rng.randint(10, 59)}:00Z level=INFO "
             f"source=server.go:{rng.randint(100, 900)} msg=\"llama runner started in {rng.uniform(0.5, 9):.2f} seconds\"",
             f"[GIN] 2025/03/0{rng.randint(1, 9)} - 10:1{rng.randint(0, 9)}:00 | 200 | {rng.uniform(0.1, 9):.3f}s | "
             f"127.0.0.1 | POST \"/api/chat\""]
    return [rng.choice(pool) for _ in range(n)]


def traceback(rng: random.Random, engine: str, cause: dict) -> str:
    exc, msg = rng.choice(cause["errors"])
    package = ENGINES[engine][1]
    site = f"/usr/local/lib/python3.{rng.randint(9, 12)}/site-packages"
    outer = [(f"{site}/{package}/entrypoints/api_server.py", "main"), (f"{site}/{package}/engine/llm_engine.py",
                                                                         "step"),
             (f"{site}/{package}/worker/worker.py", "execute_model"), (f"{site}/torch/nn/modules/module.py", "_call_impl")]
    module, function = rng.choice(cause["frames"])
    frames = rng.sample(outer, rng.randint(1, 4)) + [(f"{site}/{package}/{module}.py", function)]
    lines = ["Traceback (most recent call last):"]
    for path, fn in frames:
        lines += [f'  File "{path}", line {rng.randint(20, 2000)}, in {fn}', f"    {rng.choice(CODE_LINES)}"]
    lines.append(f"{exc}: {msg}" if msg else exc)
    if rng.random() < 0.3:
        prefix = rng.choice(("ERROR 05-12 10:31:22 [core.py:396] ", "(Worker pid=812) ERROR ", "[rank0]: "))
        lines = [prefix + line for line in lines]
    return "\n".join(lines)


CODE_LINES = ["return self._call_impl(*args, **kwargs)", "output = self.model_executor.execute_model(req)",
              "hidden_states = layer(positions, hidden_states)", "return forward_call(*args, **kwargs)",
              "self._run_workers(\"load_model\")", "outputs = self.engine.step()", "raise ValueError(msg)"]


def evidence(rng: random.Random, symptom: str, engine: str, cause: dict, thing: str) -> str:
    """What shows the symptom: a traceback, a log that stops, numbers, a wrong-output sample."""
    logs = info_log(rng, engine, rng.randint(2, 12))
    if symptom == "crash":
        if rng.random() < 0.2:
            tail = [rng.choice(("Segmentation fault (core dumped)", "Aborted (core dumped)",
                                "terminate called after throwing an instance of 'std::runtime_error'",
                                f"CUDA error: {rng.choice(('an illegal memory access was encountered', 'out of memory'))}",
                                "GGML_ASSERT(ctx->mem_buffer != NULL) failed", "Killed"))]
            return "\n".join(logs + tail)
        return "\n".join(logs) + "\n" + traceback(rng, engine, cause)
    if symptom == "system-hang":
        tail = rng.choice((["INFO Capturing cudagraphs for decoding. This may take a while..."],
                           ["Loading safetensors checkpoint shards:  50% Completed | 2/4"],
                           ["(no more output after this line)"],
                           ['Thread 0x7f3a (most recent call first):', '  File "threading.py", line 320 in wait',
                            '  File "queue.py", line 171 in get'],
                           ["WARNING No requests finished in the last 600 seconds, still running 12 requests"]))
        return "\n".join(logs + tail)
    if symptom == "abnormal-performance":
        old, new = rng.uniform(20, 3000), 0
        new = old / rng.uniform(1.5, 8)
        rows = [f"| version | throughput (tok/s) | TTFT (ms) |", "|---|---|---|",
                f"| {_version(rng)} | {old:.1f} | {rng.uniform(20, 300):.0f} |",
                f"| {_version(rng)} | {new:.1f} | {rng.uniform(300, 3000):.0f} |"]
        if rng.random() < 0.5:
            rows = [f"Avg prompt throughput: {old:.1f} tokens/s, Avg generation throughput: {new:.1f} tokens/s",
                    f"GPU KV cache usage: {rng.uniform(0, 100):.1f}%, Running: {rng.randint(1, 64)} reqs"]
        return "\n".join(rows)
    if symptom == "unexpected-output":
        sample = rng.choice(("The capital of France is is is is is is is is",
                             "GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG", "<unk><unk><unk><unk><unk><unk>",
                             "Paris cathedral sandwich of the the of", "@@@@@@@@@@@@@@@@@@@@@@@@",
                             "I I I I I I I I I I I I", "'' (empty string)", "\u00e4\u00b8\u00ad\u00e6\u2013\u2021"))
        return f">>> {rng.choice(('hello', 'What is the capital of France?', 'Write a poem'))}\n{sample}"
    if symptom == "silent-error":
        return rng.choice((f"prompt_eval_count: {rng.randint(1000, 3000)} (sent {rng.randint(5000, 20000)} tokens)",
                           f"status 200, usage: {{'prompt_tokens': {rng.randint(10, 900)}}}",
                           "WARN truncating input prompt limit=2048", "no warning printed"))
    return "\n".join(logs)  # feature failure: an uneventful log


REPRO = ["vllm serve {model} --tensor-parallel-size {tp} --max-model-len {len}",
         "python -m sglang.launch_server --model-path {model} --tp {tp} --port 30000",
         "./llama-cli -m {model}.Q4_K_M.gguf -ngl 99 -c {len} -p \"hello\"",
         "ollama run {model}", "docker run --gpus all -p 8080:80 ghcr.io/huggingface/text-generation-inference "
                               "--model-id {model}",
         "from vllm import LLM, SamplingParams\nllm = LLM(model=\"{model}\", tensor_parallel_size={tp})\n"
         "out = llm.generate([\"hello\"], SamplingParams(temperature=0))",
         "curl localhost:8000/v1/chat/completions -d '{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", "
         "\"content\": \"hi\"}}]}}'",
         "from llama_cpp import Llama\nllm = Llama(model_path=\"{model}.gguf\", n_gpu_layers=-1, n_ctx={len})"]

FORMS = {
    "vLLM": ("### Your current environment\n\n<details>\n<summary>The output of <code>python collect_env.py</code>"
             "</summary>\n\n```text\n{env}\n```\n\n</details>\n\n### 🐛 Describe the bug\n\n{body}\n\n### Before "
             "submitting a new issue...\n\n- [x] I looked through the open issues and the docs first."),
    "SGLang": ("### Checklist\n\n- [x] 1. Existing issues did not help me.\n- [x] 2. Still broken on the newest "
               "release.\n- [ ] 5. Written in English.\n\n### Describe the bug\n\n{body}\n\n### Reproduction\n\n{repro}\n\n### Environment\n\n{env}"),
    "llama.cpp": ("### Name and Version\n\n{env}\n\n### Problem description & steps to reproduce\n\n{body}\n\n"
                  "### First Bad Commit\n\n_No response_\n\n### Relevant log output\n\n```shell\n{log}\n```"),
    "Ollama": ("### What is the issue?\n\n{body}\n\n### Relevant log output\n\n```shell\n{log}\n```\n\n### OS\n\n"
               "Linux\n\n### GPU\n\nNvidia\n\n### CPU\n\nIntel\n\n### Ollama version\n\n{version}"),
    "TGI": ("### System Info\n\n{env}\n\n### Information\n\n- [x] Docker\n- [ ] The CLI directly\n\n### Reproduction"
            "\n\n{repro}\n\n{body}\n\n### Expected behavior\n\nIt should work."),
    "TensorRT-LLM": ("### System Info\n\n{env}\n\n### Who can help?\n\n_No response_\n\n### Reproduction\n\n{repro}"
                     "\n\n### Expected behavior\n\nno error\n\n### actual behavior\n\n{body}\n\n### additional notes"
                     "\n\nnone"),
    "DeepSpeed": ("**Describe the bug**\n{body}\n\n**To Reproduce**\n{repro}\n\n**Expected behavior**\nIt works.\n\n"
                  "**ds_report output**\n{env}"),
    "MLC-LLM": ("## 🐛 Bug\n\n{body}\n\n## To Reproduce\n\n{repro}\n\n## Environment\n\n{env}"),
    "llama-cpp-python": ("# Expected Behavior\n\nIt works.\n\n# Current Behavior\n\n{body}\n\n# Environment and "
                         "Context\n\n{env}\n\n# Steps to Reproduce\n\n{repro}"),
}


def _title(rng: random.Random, symptom: str, cause: dict, thing: str) -> str:
    exc, msg = rng.choice(cause["errors"])
    template = rng.choice(TITLES[symptom])
    return template.format(thing=thing, thing2=rng.choice(cause["things"]), exc=exc, Exc=exc,
                           msg_short=(msg[:60] or exc), model=rng.choice(MODELS), gpu=rng.choice(GPUS).split()[-1])


def _description(rng: random.Random, symptom: str, cause: dict, thing: str, engine: str) -> str:
    """One to four sentences: what happened, with or without a hint at why."""
    parts = [rng.choice(SENTENCES[symptom])]
    if rng.random() < 0.75:
        parts.append(f"This happens with {thing}." if rng.random() < 0.5 else f"I'm using {thing} with {engine}.")
    if rng.random() < 0.55:
        parts.append(rng.choice(cause["hints"]).capitalize() + ".")
    if rng.random() < 0.3:
        parts.append(rng.choice(("Any idea?", "Thanks!", "Is this a known issue?", "Please help.",
                                 f"Model: {rng.choice(MODELS)}.", "Same with the latest main.")))
    rng.shuffle(parts[1:]) if False else None
    text = " ".join(parts)
    return text.lower() if rng.random() < 0.15 else text


def report(rng: random.Random, cause_slug: str, symptom: str) -> dict:
    cause = CAUSES[cause_slug]
    engine = rng.choice(list(ENGINES))
    thing = rng.choice(cause["things"])
    model = rng.choice(MODELS)
    title = _title(rng, symptom, cause, thing)
    body = _description(rng, symptom, cause, thing, engine)
    shown = evidence(rng, symptom, engine, cause, thing)
    repro = rng.choice(REPRO).format(model=model, tp=rng.choice((1, 2, 4, 8)), len=rng.choice((4096, 8192, 32768)))
    env = env_dump(rng, engine)
    style = rng.random()
    if style < 0.06:  # thin: the title says it all, the form holds an environment dump or nothing
        text = rng.choice(("### Your current environment\n\n<details>\n<summary>The output of `python collect_env.py`"
                           "</summary>\n\n```text\n" + env + "\n```\n</details>\n\n### 🐛 Describe the bug",
                           "### Your current environment", env, f"using {engine} {_version(rng)}",
                           "### What is the issue?\n\n" + rng.choice(SENTENCES[symptom])))
    elif style < 0.6:  # the engine's issue form
        text = FORMS[engine].format(env=env, body=body + "\n\n```\n" + shown + "\n```", repro="```\n" + repro + "\n```",
                                    log=shown, version=_version(rng))
    elif style < 0.8:  # free text, log after the description
        text = body + "\n\n```\n" + repro + "\n```\n\n```\n" + shown + "\n```"
        if rng.random() < 0.5:
            text += "\n\nenv:\n```\n" + env + "\n```"
    else:  # careless: a line and a paste
        text = body.split(".")[0] + "\n" + shown
    comments = []
    if rng.random() < 0.35:
        comments.append({"author": "maintainer", "body": rng.choice(cause["fix"])})
    if rng.random() < 0.15:
        comments.append({"author": "user", "body": f"> {body.split('.')[0]}\n\nsame here with {rng.choice(MODELS)}"})
    return {"title": title, "text": text, "symptoms": [symptom], "root_causes": [cause_slug], "engine": engine,
            "repo": ENGINES[engine][0], "comments": comments, "generated": True}


def generate(n: int, seed: int = 0) -> Iterator[dict]:
    """``n`` reports: root causes in turn (every leaf equally often), each with a symptom it plausibly shows.

    Symptoms are drawn by the cause's weights, then flattened a little (square root) so the rare
    symptoms still get hundreds of reports.
    """
    rng = random.Random(seed)
    slugs = sorted(CAUSES)
    for k in range(n):
        cause = slugs[k % len(slugs)]
        weights = CAUSES[cause]["sym"]
        symptoms = sorted(weights)
        symptom = rng.choices(symptoms, weights=[weights[s] ** 0.5 for s in symptoms])[0]
        yield report(rng, cause, symptom)


def main(argv: list[str] | None = None) -> None:
    """``python -m enginebugs.datasets.report_generator N [SEED]``: print N reports as JSON lines."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    n, seed = int(args[0]) if args else 10, int(args[1]) if len(args) > 1 else 0
    for item in generate(n, seed):
        print(json.dumps(item, ensure_ascii=False))


if __name__ == "__main__":
    main()
