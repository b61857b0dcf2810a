"""Tests of the GitHub Actions layer: static checks of every workflow and action, and act runs."""
