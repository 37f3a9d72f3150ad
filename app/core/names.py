"""How a name of anything FedDeck stores may look (users, edges, projects, configs,
tasks), in the words every refusal uses. Imports nothing: the CLI loads it at start."""

NAME_RULE = "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
