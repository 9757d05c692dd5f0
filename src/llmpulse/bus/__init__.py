"""Message-bus adapters (real brokers in tests): RabbitMQ over AMQP 0-9-1."""
