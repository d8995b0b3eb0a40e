"""snsflow: Amazon SNS HTTPS deliveries in, one AWS Step Functions execution per message out."""

__version__ = "0.1.0"
