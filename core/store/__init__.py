"""The store: the SQLite file of a workspace and the workspace folder around it. The only
package that holds SQL: the rest of the engine and the desktop read and write through its functions,
one module per noun (prompts, ratings, runs, models, reward models)."""
