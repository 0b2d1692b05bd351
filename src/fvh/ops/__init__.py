"""The operators' door: the `fvh` command, serving, doctor, maintenance, the mail
sender, backup, the legacy import and the /metrics endpoint."""
