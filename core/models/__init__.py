"""Local model folders: loading a Hugging Face folder for generation or training (which knows
nothing of the database), importing a folder, a .gguf file or the starter into a workspace, and the
choice of device and dtype."""
