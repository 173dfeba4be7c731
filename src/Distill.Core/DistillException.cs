namespace Distill.Core;

/// <summary>Bad input from outside (a file, a recipe, a checkpoint): the CLI prints the message and exits 2.</summary>
public class InvalidInputException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A run that started and failed (NaN loss, …): the CLI prints the message and exits 1.</summary>
public class RunFailedException(string message, Exception? inner = null) : Exception(message, inner);
