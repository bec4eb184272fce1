"""SuperHF (Mukobi et al., 2023): its settings, loss and optimiser step, the policy and its
frozen reference, one iteration of the loop (objects in, metrics out), and the run driver that loads,
records, checkpoints and resumes a stored run."""
