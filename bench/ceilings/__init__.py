"""The ceilings: the least a server can do for the same job on this machine, measured in the
same run as Nirvana, so that Nirvana's figures are read as ratios to them."""
