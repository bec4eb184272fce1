"""Bradley-Terry reward models: from ratings to training pairs, the model and its features,
the trainer, versions kept in the workspace and scored with, and where a model disagrees with the person."""
