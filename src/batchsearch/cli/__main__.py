"""`python -m batchsearch.cli`."""

from batchsearch.cli import main

main()
