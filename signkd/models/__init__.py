"""The student and the teachers, each a small nn.Module with explicit (tensor, lengths) inputs."""
