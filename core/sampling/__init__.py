"""Sampling answers: ``sample(lm, prompts, n, settings)`` with the model's chat template, our
own decoder built for superbatches, and vLLM on a CUDA GPU where it is installed."""
