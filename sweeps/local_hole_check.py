"""The tokenization finding without Ray: addition, direct, square (50, 50) h = 10; number tokens on
the square and on a random split of its size, digit tokens on the square; 3 seeds.

    python sweeps/local_hole_check.py --seeds 0 1 2 --workers 2 [--steps 2500] [--high 99 --half-width 10]

The logic lives in caseray/cli/hole_check.py.
"""

from caseray.cli.hole_check import main

if __name__ == "__main__":
    main()
