"""Scheduled notebook reports."""
