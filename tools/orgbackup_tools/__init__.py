"""Development tools around the orgbackup package: the `orgbackup` command line, the emulated organization
(moto and its documented extensions), the local simulation, the benchmark and the static checks.

Kept out of the Lambda layer on purpose: nothing here runs in AWS, and code that patches an AWS emulator has no
place in production functions.
"""
