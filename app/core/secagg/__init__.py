"""Secure aggregation for the FedAvg family (after Bonawitz et al., CCS 2017): the server
learns the sum of the round's updates and nothing about any one of them.

Each edge makes an X25519 key pair when it joins a run and announces the public half.
In a round the server hands every selected edge the others' keys. An edge sends its update,
weighted by its sample count and in fixed point, plus a self mask from a fresh seed b and,
for every other selected edge, a pairwise mask from their shared key (added by one of the
pair, subtracted by the other, so that they cancel in the sum); beside it, b split into
Shamir shares, each encrypted to one edge. When the round's updates are in, the server
names the edges that sent one (the survivors) and hands each survivor the shares addressed
to it: a survivor answers with its shares of the survivors' self-mask seeds and its pairwise
mask keys with the edges that dropped out, never both for one edge. From any `threshold`
answers the server rebuilds each survivor's seed and takes the self masks off, and takes
the dropped edges' pairwise masks off with the revealed keys: what is left is the sum.

Honest-but-curious server: it follows the protocol and reads what it is sent. The keys
it hands around are not signed, so a server that swapped them could unmask an edge.
"""
