"""Image distribution between clouds (F6): the matrix diff, the local cache, transfers, uploads."""
