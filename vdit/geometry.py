"""Geometry of the synthetic videos and of their text stand-in (torch-free, so that shape-only tools such as the
accelerator model's `tiny` workload read the same numbers the data pipeline and the trained model use)."""
FRAMES, SIZE, S2D, PATCH = 8, 32, 2, 2
LATENT_CHANNELS = 3 * S2D * S2D            # 12
TOKEN_CHANNELS = LATENT_CHANNELS * PATCH * PATCH   # 48 = tiny config in_channels
GRID = SIZE // (S2D * PATCH)               # 8 tokens per side
TEXT_TOKENS, CONTEXT_DIM, VEC_DIM = 8, 64, 32
# classifier-free guidance runs the conditional and the null prompt: two model evaluations per step
CFG_BRANCHES = 2
