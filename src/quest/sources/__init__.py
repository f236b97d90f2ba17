"""The sources quest republishes: the BLS `pr` directory and DataUSA's US population."""
