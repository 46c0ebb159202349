"""Generators and reconstructions to compare GBC with: naive, BN statistics, free particles."""
