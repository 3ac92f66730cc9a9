"""vdit: the Open-Sora 2.0-shaped MMDiT, synthetic text-to-video data, training, sampler and checkpoint loading.

    import vdit
    model, config = vdit.load_checkpoint("vdit/checkpoints/tiny.safetensors")
    result = vdit.sample(model, vdit.EVALUATION_PROMPTS[:4], seed=0, steps=20)   # result.frames (B, T, H, W, 3)
    full = vdit.build("opensora2", device="meta")                                   # 11.89 B parameters, no memory
"""
# Lazy exports: `import vdit.config` (shapes only) must not import torch.
_EXPORTS = {"CheckpointError": "checkpoint", "SafetensorsFile": "checkpoint", "load_checkpoint": "checkpoint",
            "save_checkpoint": "checkpoint", "CONFIGS": "config", "MMDiTConfig": "config", "get_config": "config",
            "ALL_SPECS": "data", "CALIBRATION_PROMPTS": "data", "EVALUATION_PROMPTS": "data",
            "EVALUATION_SUBSET": "data", "NULL_PROMPT": "data", "VideoSpec": "data", "parse_prompt": "data",
            "MMDiTModel": "model", "build": "model", "linear_names": "model", "SampleResult": "sampler",
            "sample": "sampler"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vdit' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
