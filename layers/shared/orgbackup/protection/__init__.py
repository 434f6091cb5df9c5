"""Copies and restores: what AWS Backup can copy where (``rules``), what a workload key must allow
(``key_statement``) and the way back from the central vault (``recovery``)."""
