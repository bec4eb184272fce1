"""The user's steps over the store and the engine: answers to rate, the queue of pairs to
rate next, the rating loop, the blind comparison, export and where the workspace stands."""
