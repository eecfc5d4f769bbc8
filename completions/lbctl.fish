complete --keep-order --exclusive --command lbctl --arguments "(COMPLETE=fish lbctl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
