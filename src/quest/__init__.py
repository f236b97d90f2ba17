"""quest: BLS productivity and US population, republished to S3 and refined on Delta."""

__version__ = "0.1.0"
