"""vdit: the Open-Sora 2.0-shaped MMDiT, synthetic text-to-video data, training, sampler and checkpoint loading.

    import vdit
    model, config = vdit.load_checkpoint("vdit/checkpoints/tiny.safetensors")
    result = vdit.sample(model, vdit.EVALUATION_PROMPTS[:4], seed=0, steps=20)   # result.frames (B, T, H, W, 3)
    full = vdit.build("opensora2", device="meta")                                   # 11.89 B parameters, no memory
"""
from .checkpoint import CheckpointError, SafetensorsFile, load_checkpoint, save_checkpoint
from .config import CONFIGS, MMDiTConfig, get_config
from .data import (ALL_SPECS, CALIBRATION_PROMPTS, EVALUATION_PROMPTS, EVALUATION_SUBSET, NULL_PROMPT, VideoSpec,
                   parse_prompt)
from .model import MMDiTModel, build, linear_names
from .sampler import SampleResult, sample

__all__ = ["CheckpointError", "SafetensorsFile", "load_checkpoint", "save_checkpoint", "CONFIGS", "MMDiTConfig",
           "get_config", "ALL_SPECS", "CALIBRATION_PROMPTS", "EVALUATION_PROMPTS", "EVALUATION_SUBSET", "NULL_PROMPT",
           "VideoSpec", "parse_prompt", "MMDiTModel", "build", "linear_names", "SampleResult", "sample"]
