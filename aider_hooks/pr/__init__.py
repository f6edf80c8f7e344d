"""Pull and merge requests: the host-neutral bot; one subpackage per host."""
