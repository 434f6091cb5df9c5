"""Backup policies as code: parameters, templates, rendering, validation and the Organizations adapter."""
