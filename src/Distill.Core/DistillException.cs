namespace Distill.Core;

/// <summary>Bad input from outside (a file, a recipe, a checkpoint): the CLI prints the message and exits 2.</summary>
public class InvalidInputException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A run that started and failed (NaN loss, …): the CLI prints the message and exits 1.</summary>
public class RunFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A write failed because the disk (or the user's quota) is full; the message names the file or the
/// store's database. The CLI prints it without a stack trace and exits 1, like any failed run.</summary>
public class DiskFullException(string message, Exception? inner = null) : RunFailedException(message, inner);
