# Placeholder: replaced by the code-generation work (tools/kafka_codegen).
