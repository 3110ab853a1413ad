"""Autograder for student implementations of neural-network layers."""
