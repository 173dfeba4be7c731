namespace Distill.Core.Tracking;

/// <summary>MLflow's input limits (mlflow/utils/validation.py), which every tracker here enforces and which a
/// recipe is checked against before a run starts.</summary>
public static class TrackingLimits
{
    public const int KeyLength = 250;
    public const int NameLength = 250;
    public const int ParamValueLength = 6000;
    public const int TagValueLength = 8000;
}
